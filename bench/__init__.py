"""`make bench`: measures the figures of ../shared/FIGURES.md and writes bench/results.json."""
