"""The app's triggers, grouped by family; function_app.py registers them."""
