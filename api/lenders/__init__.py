"""Lenders: the canonical lender entities, their brand/app aliases, and name look-up."""
