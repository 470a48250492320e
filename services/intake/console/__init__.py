"""The console: pages for site staff and supervisory offices, on the API's use cases."""
