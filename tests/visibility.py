"""A reusable check that records outside a user's visibility stay hidden on every URL."""


def assert_hidden(client, *, get=(), post=()):
    """Every GET url and every (url, data) POST answers 404 (existence is not disclosed)."""
    for url in get:
        response = client.get(url)
        assert response.status_code == 404, f"GET {url} answered {response.status_code}"
    for url, data in post:
        response = client.post(url, data)
        assert response.status_code == 404, f"POST {url} answered {response.status_code}"
        response = client.post(url, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 404, f"HTMX POST {url} answered {response.status_code}"
