"""fastping."""
