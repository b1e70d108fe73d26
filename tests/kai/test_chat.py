"""POST /api/v1/chat/completions: validation, deterministic replies, usage, finish_reason."""
from __future__ import annotations

from typing import Any

import pytest

from emulators.providers.kai.chat import count_tokens
from tests.kai.conftest import CHAT, HELLO, Api, assert_error

USER = [{"role": "user", "content": "hi"}]


@pytest.mark.emulator(strict=False)  # values the provider refuses, on purpose
@pytest.mark.parametrize("body,param,message", [
    ({}, "messages", "The messages field is required."),
    ({"messages": "hi"}, "messages", "The messages field must be an array."),
    ({"messages": []}, "messages", "The messages field must have at least 1 items."),
    ({"messages": ["hi"]}, "messages.0", "The messages.0 field must be an object."),
    ({"messages": [{"content": "x"}]}, "messages.0.role", "The messages.0.role field is required."),
    ({"messages": [{"role": "tool", "content": "x"}]}, "messages.0.role", "The selected messages.0.role is invalid."),
    ({"messages": [*USER, {"role": "user"}]}, "messages.1.content", "The messages.1.content field is required."),
    ({"messages": [{"role": "user", "content": ""}]}, "messages.0.content",
     "The messages.0.content field must be at least 1 characters."),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}, "messages.0.content",
     "The messages.0.content field must be a string."),
    ({"messages": USER, "model": 5}, "model", "The model field must be a string."),
    ({"messages": USER, "temperature": 2.5}, "temperature", "The temperature field must not be greater than 2."),
    ({"messages": USER, "temperature": -0.1}, "temperature", "The temperature field must be at least 0."),
    ({"messages": USER, "temperature": "hot"}, "temperature", "The temperature field must be a number."),
    ({"messages": USER, "max_tokens": 0}, "max_tokens", "The max_tokens field must be at least 1."),
    ({"messages": USER, "max_tokens": 32769}, "max_tokens", "The max_tokens field must not be greater than 32768."),
    ({"messages": USER, "max_tokens": 1.5}, "max_tokens", "The max_tokens field must be an integer."),
    ({"messages": USER, "top_p": 1.01}, "top_p", "The top_p field must not be greater than 1."),
    ({"messages": USER, "top_p": -1}, "top_p", "The top_p field must be at least 0."),
    ({"messages": USER, "n": 0}, "n", "The n field must be at least 1."),
    ({"messages": USER, "n": 11}, "n", "The n field must not be greater than 10."),
    ({"messages": USER, "presence_penalty": 2.1}, "presence_penalty", "The presence_penalty field must not be greater than 2."),
    ({"messages": USER, "frequency_penalty": -3}, "frequency_penalty", "The frequency_penalty field must be at least -2."),
    ({"messages": USER, "stream": "yes"}, "stream", "The stream field must be true or false."),
    ({"messages": USER, "stop": 5}, "stop", "The stop field must be a string."),
])
def test_validation(api: Api, body: dict[str, Any], param: str, message: str) -> None:
    err = assert_error(api.post(CHAT, json=body), 400, "invalid_request", "invalid_request_error", param)
    assert err["message"] == message


@pytest.mark.emulator(strict=False)  # stream: true, which kai refuses, on purpose
def test_stream_true_is_refused(api: Api) -> None:
    err = assert_error(api.chat(stream=True), 400, "invalid_request", "invalid_request_error", "stream")
    assert "Streaming is not currently supported" in err["message"]


@pytest.mark.emulator(strict=False)  # bodies that are not objects, on purpose
def test_body_must_be_a_json_object(api: Api) -> None:
    r = api.post(CHAT, content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request", "invalid_request_error")
    assert_error(api.post(CHAT, json=[1, 2]), 400, "invalid_request", "invalid_request_error")


def test_unknown_model_names_the_param(api: Api) -> None:
    err = assert_error(api.chat(model="gpt-4o"), 400, "invalid_request", "invalid_request_error", "model")
    assert "gpt-4o" in err["message"]
    # an audio model is no chat model
    assert_error(api.chat(model="whisper-large-v3-turbo"), 400, "invalid_request", "invalid_request_error", "model")
    # a model of another product is not available to this plan
    r = api.as_token("free-token").chat(model="Meta-Llama-3_3-70B-Instruct")
    assert_error(r, 400, "invalid_request", "invalid_request_error", "model")


def test_docs_example_request(api: Api) -> None:
    body = {"messages": HELLO, "model": "", "temperature": 0.7, "max_tokens": 1024, "top_p": 1,
            "stream": False, "n": 1, "presence_penalty": 0, "frequency_penalty": 0}
    r = api.post(CHAT, json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["object"] == "chat.completion" and data["id"].startswith("chatcmpl-kai-")
    assert data["model"] == "Meta-Llama-3_3-70B-Instruct"  # the plan's default
    assert data["choices"] == [{"index": 0, "message": {"role": "assistant",
                                                         "content": "Hello! How can I help you today?"},
                                "finish_reason": "stop"}]


def test_usage_follows_the_stated_token_rule(api: Api) -> None:
    data = api.chat().json()
    usage = data["usage"]
    expected_prompt = sum(4 + count_tokens(m["content"]) for m in HELLO) + 3
    assert usage["prompt_tokens"] == expected_prompt == 23
    assert usage["completion_tokens"] == count_tokens(data["choices"][0]["message"]["content"]) == 11
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_token_rule() -> None:
    assert count_tokens("Hello!") == 3  # "Hell" "o" "!"
    assert count_tokens("a bb ccc dddd eeeee") == 6
    assert count_tokens("  ") == 0


def test_replies_are_deterministic_and_scripted(api: Api) -> None:
    other = [{"role": "user", "content": "Summarise the plot of Hamlet"}]
    first = api.chat(other).json()["choices"][0]["message"]["content"]
    second = api.chat(other).json()["choices"][0]["message"]["content"]
    assert first == second and "Summarise the plot of Hamlet" in first
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"},
                    {"role": "user", "content": "  What is   the capital of France?  "}]
    assert api.chat(conversation).json()["choices"][0]["message"]["content"] == "The capital of France is Paris."


def test_max_tokens_cuts_with_finish_reason_length(api: Api) -> None:
    full = api.chat([{"role": "user", "content": "Say this is a test"}]).json()
    assert full["choices"][0]["message"]["content"] == "This is a test."
    cut = api.chat([{"role": "user", "content": "Say this is a test"}], max_tokens=3).json()
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["choices"][0]["message"]["content"] == "This is a"
    assert cut["usage"]["completion_tokens"] == 3
    exact = api.chat([{"role": "user", "content": "Say this is a test"}],
                     max_tokens=full["usage"]["completion_tokens"]).json()
    assert exact["choices"][0]["finish_reason"] == "stop"


@pytest.mark.emulator(strict=False)  # OpenAI fields kai does not document, and hostile bodies, on purpose
def test_compat_fields_accepted_and_one_choice(api: Api) -> None:
    r = api.chat(n=3, stop=["\n"], presence_penalty=1.5, frequency_penalty=-1.5, temperature=0, top_p=0,
                 user="someone", seed=7, model="mistral-nemo-instruct-2407")
    assert r.status_code == 200, r.text
    data = r.json()
    assert len(data["choices"]) == 1 and data["model"] == "mistral-nemo-instruct-2407"
    assert api.chat(stop="END", stream=False).status_code == 200


@pytest.mark.emulator(strict=False)  # hostile bodies, on purpose
def test_oversized_and_hostile_bodies_get_400_not_500(api: Api) -> None:
    big = {"messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]}
    err = assert_error(api.post(CHAT, json=big), 400, "invalid_request", "invalid_request_error")
    assert "4096 kilobytes" in err["message"]
    deep = b"[" * 100000
    assert_error(api.post(CHAT, content=deep, headers={"Content-Type": "application/json"}), 400,
                 "invalid_request", "invalid_request_error")
    lone_surrogate = b'{"messages": [{"role": "user", "content": "\\ud800 hi"}]}'
    assert_error(api.post(CHAT, content=lone_surrogate, headers={"Content-Type": "application/json"}), 400,
                 "invalid_request", "invalid_request_error")
    emoji = b'{"messages": [{"role": "user", "content": "\\ud83d\\ude00 hi"}]}'
    r = api.post(CHAT, content=emoji, headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and "\U0001f600" in r.json()["choices"][0]["message"]["content"]
