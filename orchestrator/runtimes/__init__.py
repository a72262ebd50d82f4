"""Model runtimes other than the in-process one; each is imported only when configured
(``HGBOT_RUNTIME=ray`` imports :mod:`.ray`, and with it Ray), so the single-host default never
loads them."""
