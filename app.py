"""Coherence Lab in the browser (Solara): pick a scenario, read its story, press play (SPEC 9.4).

Run with ``cohlab app`` (or ``./dev.sh app``, or ``solara run app.py``). Every browser session
builds its own model: all state lives in component hooks (see ``ui/components.py``), never in
module-level reactive variables. The address carries the run (``?scenario=NAME&seed=N&key=value``).
"""

import solara.server.settings

from ui.components import Page

# no "This website runs on Solara" badge over the charts, and the app's own name in the tab
solara.server.settings.theme.show_banner = False
solara.server.settings.theme.title = "Coherence Lab"

__all__ = ["Page"]
