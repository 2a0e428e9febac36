from custos.exceptions import Conflict, NotFound


class RoleExists(Conflict):
    code, message = "role_exists", "A role with this name already exists in this tenant."


class RoleNotFound(NotFound):
    code, message = "not_found", "No such role in this tenant."
