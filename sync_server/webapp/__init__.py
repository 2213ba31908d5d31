"""The field app as a PWA: built from `field_app/` into a static site (`build`) and served by
the sync server at /app/ on the same origin as the API (`site`)."""
