"""The OpenAPI docs live under /api, the only prefix that reaches the function on Vercel."""

from backend.errors import InvalidInput


def test_docs_are_served_at_api_docs(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "/api/openapi.json" in response.text


def test_openapi_schema_is_served_at_api_openapi_json(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert {"/api/", "/api/health", "/api/status"} <= set(response.json()["paths"])


def test_default_docs_paths_are_not_served(client):
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404


def test_the_idempotency_conflict_is_a_422_the_document_declares(client):
    headers = {"Idempotency-Key": "k"}
    client.post("/api/status", json={"client_name": "first"}, headers=headers)
    response = client.post("/api/status", json={"client_name": "second"}, headers=headers)
    assert response.status_code == 422
    declared = client.get("/api/openapi.json").json()
    content = declared["paths"]["/api/status"]["post"]["responses"]["422"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/InvalidInput"}
    assert {"type": "string"} in declared["components"]["schemas"]["InvalidInput"]["properties"][
        "detail"
    ]["anyOf"]
    InvalidInput.model_validate(response.json())
