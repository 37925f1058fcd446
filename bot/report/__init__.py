"""`hublint report`: the crawl store as a static site, an owner's Markdown report and a living GitHub issue.

`model` reads the store into plain data (what `report.json` holds), `charts` draws it as accessible SVG, `site`
writes the pages through templates/report/, `issue` renders the dashboard issue's body. Nothing here prints.
"""
