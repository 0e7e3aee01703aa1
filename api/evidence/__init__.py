"""Evidence files attached to reports: content-addressed storage, sniffing, metadata removal."""
