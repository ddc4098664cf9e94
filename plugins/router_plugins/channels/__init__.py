"""Channel plugins: turn a channel's payload into a normalized contact."""
