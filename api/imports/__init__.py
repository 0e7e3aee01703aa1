"""Imports of complaints filed elsewhere (the CFPB Consumer Complaint Database) as reports.

Sits above `reports` and `lenders`: it turns another system's rows into reports and lenders
through their services, and never commits (the CLI owns the transaction).
"""
