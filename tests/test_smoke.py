def test_list_users_starts_empty(client, partner):
    response = client.get(f"{partner.base}/users", headers=partner.headers)
    assert response.status_code == 200
    assert response.json() == []
