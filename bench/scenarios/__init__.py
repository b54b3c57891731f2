"""One module per benchmark scenario; each runs alone: `python bench/scenarios/<id>.py`."""
