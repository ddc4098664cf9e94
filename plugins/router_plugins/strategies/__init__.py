"""Strategy plugins: pick the winning candidate from the summed scores."""
