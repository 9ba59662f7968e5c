"""The error every fkd failure becomes on the Python side."""


class FkdError(Exception):
    """An fkd error: ``code`` is fkd's stable code (``E_USAGE``, ``E_IMAGE_CHANGED``, ...).

    Codes made on this side: ``E_NOT_FOUND`` (node or the fkd CLI missing),
    ``E_SERVER_EXITED`` (the server process died or closed its output),
    ``E_PROTOCOL`` (a message this client does not understand).
    """

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
