"""The page's link to the browser window: its width, the keyboard, the address bar, the whole-view PNG.

One :class:`BrowserLink` per page (see ``browser.vue``). The browser reports ``width`` (the window's
inner width, on load and after a resize) and ``pressed`` (``"play 3"``, ``"step 4"``, ``"reset 5"``:
the command and a running count, so pressing the same key twice is two changes); the server sets
``query`` and the browser puts it in the address bar with ``history.replaceState`` (no reload, no
new history entry). :meth:`BrowserLink.save_view` asks the browser to draw every chart of the
views area onto one canvas and save it as a PNG.
"""

from __future__ import annotations

import ipyvuetify as v
import traitlets

KEYS_HELP = "Keyboard: Space play / pause · → one step · R reset (not while typing in a field)"


class BrowserLink(v.VuetifyTemplate):
    """See the module docstring."""

    template_file = (__file__, "browser.vue")
    width = traitlets.Int(0).tag(sync=True)
    pressed = traitlets.Unicode("").tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)

    def save_view(self, filename: str, title: str) -> None:
        """Save the charts of the page's views area as one PNG named ``filename`` (with a title line)."""
        self.send({"method": "view_png", "args": [{"filename": filename, "title": title}]})


def command(pressed: str) -> str:
    """``"play 3"`` → ``"play"``."""
    return pressed.split(" ", 1)[0]
