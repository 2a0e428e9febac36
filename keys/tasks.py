from celery import shared_task


@shared_task(ignore_result=True, acks_late=True)
def prune() -> list[str]:
    """Unpublish keys whose last token has expired."""
    from audit.services import Actor

    from .services import keys_prune

    return keys_prune(actor=Actor.system("beat"))


@shared_task(ignore_result=True, acks_late=True)
def rotate_if_due() -> str | None:
    """Stage the next signing key when the newest is CUSTOS_KEY_ROTATE_EVERY old (beat, hourly)."""
    from audit.services import Actor

    from .services import keys_rotate_if_due

    key = keys_rotate_if_due(actor=Actor.system("beat"))
    return key.kid if key is not None else None
