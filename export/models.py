"""Models of the export app."""
