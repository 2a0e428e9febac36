from custos.exceptions import Conflict


class AlreadyExists(Conflict):
    code, message = "already_exists", "An account with this identifier already exists."
