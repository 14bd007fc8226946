"""A minimal worker script: answers every message with ``("echo", message)``.

Worker scripts run with ``post_message``, ``receive``, ``close`` and ``worker`` as globals
(the counterparts of a JS worker's ``postMessage``, ``onmessage`` and ``self``); defining
``on_message`` keeps the worker alive, receiving every message the parent posts.
"""


def on_message(message):
    if message == "close":
        close()
    post_message(("echo", message))


post_message(("ready", worker.name))
