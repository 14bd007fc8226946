"""The usual worker.js of a wasm program: receive a Module (and a shared Memory), keep one
instance, call its exports on request.

Messages: ``("instantiate", module, imports)`` -> ``("instantiated", [export names])``;
``("call", name, args)`` -> ``("result", value)``; a failing call -> ``("error", text)``.
"""
import sharedwasm as wasm

instance = None


def on_message(message):
    global instance
    kind = message[0]
    if kind == "instantiate":
        _kind, module, imports = message
        instance = wasm.Instance(module, imports)
        post_message(("instantiated", list(instance.exports)))
    elif kind == "call":
        _kind, name, args = message
        try:
            post_message(("result", instance.exports[name](*args)))
        except Exception as exc:
            post_message(("error", f"{type(exc).__name__}: {exc}"))
    elif kind == "close":
        close()
