"""Reporters: turn analysed results into terminal tables, JSON, Markdown and HTML."""
