"""The browser app's building blocks (Solara): session, history, live views, parameter form, page."""
