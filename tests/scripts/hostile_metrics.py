"""Print metric lines a reader must survive, then one good line, and exit 0."""

import json

print('{"hbsite.metrics": {"loss": ' + "9" * 400 + "}}")
print('{"hbsite.metrics": ' + "[" * 100_000 + "]" * 100_000 + "}")
print('{"hbsite.metrics": {"bad\\u0000name": 1}}')
print('{"hbsite.metrics": {"bad\\ud800name": 1}}')
print(json.dumps({"hbsite.metrics": {"loss": 0.5}, "step": 3}), flush=True)
