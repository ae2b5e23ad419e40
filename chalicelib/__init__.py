"""sgguard: keeps AWS security groups compliant by revoking rules that break a reviewed baseline."""

import os

# pydantic looks for plugins by scanning every installed distribution's entry points the first time a
# model is built (importlib.metadata, ~5-10 ms of each Lambda cold start). sgguard uses none; an
# operator who wants one can still set PYDANTIC_DISABLE_PLUGINS explicitly.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
