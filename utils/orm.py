"""Small ORM helpers for the hot path of the intake (webhook and staging)."""


def prefetch_fields(model):
    """Names of the fields of ``model`` that a first read of one of its records fetches together:
    stored, prefetched with the record and readable in the model's environment. Given to
    ``search_fetch``, they make the search and that first read one query."""
    env = model.env
    return [
        name
        for name, field in model._fields.items()
        if field.prefetch is True and field.store and field.is_accessible(env)
    ]
