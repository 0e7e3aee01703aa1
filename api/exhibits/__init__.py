"""Exhibit bundles: the lawyer's verifiable ZIP of fact pattern, signatories, statistics,
narratives and Bates-stamped evidence for one campaign."""
