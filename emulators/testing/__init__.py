"""Hypothesis strategies per provider and operation, from the contracts (`contracts/<id>.yaml`).

    from hypothesis import given
    from emulators.testing import requests, responses

    @given(responses("kie", "getTaskDetail"))
    def test_my_parser(answer):
        my_client.parse_task(answer.to_httpx())      # any documented answer, no server

    @given(requests("voiceclone", "createSpeech"))
    def test_against_the_emulator(request):
        request.send(client)                         # valid by the contract and the provider

Needs Hypothesis (`pip install 'provider-emulators[testing]'`).
"""
from emulators.testing.schemas import from_schema
from emulators.testing.strategies import ApiRequest, ApiResponse, operation, operations, requests, responses

__all__ = ["ApiRequest", "ApiResponse", "from_schema", "operation", "operations", "requests", "responses"]
