"""Reports: the anonymous case reports borrowers file, their receipts, updates and withdrawal."""
