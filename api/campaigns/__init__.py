"""Campaigns: clusters turned into a joint complaint for one channel, its fact pattern versions,
status log and deadlines, and the public campaign page."""
