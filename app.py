"""Coherence Lab in the browser (Solara): pick a scenario, read its story, press play (SPEC 9.4).

Run with ``cohlab app`` (or ``./dev.sh app``, or ``solara run app.py``). Every browser session
builds its own model: all state lives in component hooks (see ``ui/components.py``), never in
module-level reactive variables.
"""

from ui.components import Page

__all__ = ["Page"]
