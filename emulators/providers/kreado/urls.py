"""KreadoAI V3 endpoints (the provider's own paths). Names double as rate-limit scopes."""
from __future__ import annotations

from emulators.engine.http import Endpoint
from emulators.providers.kreado import responses as r

P = "/apis/open"

endpoints = [
    Endpoint("POST", f"{P}/avatar/v3/list", r.avatar_list, "avatar.list"),
    Endpoint("POST", f"{P}/avatar/v3/uploadAvatar", r.upload_avatar, "avatar.uploadAvatar"),
    Endpoint("POST", f"{P}/avatar/v3/getUploadCustomAvatar", r.get_upload_custom_avatar,
             "avatar.getUploadCustomAvatar"),
    Endpoint("POST", f"{P}/video/v3/submitLipTask", r.submit_lip_task, "video.submitLipTask"),
    Endpoint("POST", f"{P}/video/v3/submitSystemLipTask", r.submit_system_lip_task, "video.submitSystemLipTask"),
    Endpoint("POST", f"{P}/video/v3/getLipVideoResult", r.get_lip_video_result, "video.getLipVideoResult"),
    Endpoint("POST", f"{P}/video/v3/list", r.video_list, "video.list"),
    Endpoint("POST", f"{P}/video/v3/detail", r.video_detail, "video.detail"),
    Endpoint("POST", f"{P}/video/v3/emoList", r.emo_list, "video.emoList"),
    Endpoint("POST", f"{P}/video/v3/uploadCloneVideo", r.upload_clone_video, "video.uploadCloneVideo"),
    Endpoint("POST", f"{P}/video/v3/getUploadCloneVideoStatus", r.get_upload_clone_video_status,
             "video.getUploadCloneVideoStatus"),
    Endpoint("GET", f"{P}/user/v3/getInfo", r.get_info, "user.getInfo"),
    Endpoint("GET", f"{P}/voice/v3/getVoiceLanguage", r.get_voice_language, "voice.getVoiceLanguage"),
    Endpoint("POST", f"{P}/voice/v3/getVoiceList", r.get_voice_list, "voice.getVoiceList"),
    Endpoint("POST", f"{P}/voice/v3/textToSpeech", r.text_to_speech, "voice.textToSpeech"),
    Endpoint("POST", f"{P}/subtitle_removal/v3/submitTask", r.submit_subtitle_task, "subtitle.submitTask"),
    # The docs name the result query `taskResult` but their example calls `detail`: both answer,
    # sharing one rate-limit scope.
    Endpoint("POST", f"{P}/subtitle_removal/v3/taskResult", r.subtitle_result, "subtitle.taskResult"),
    Endpoint("POST", f"{P}/subtitle_removal/v3/detail", r.subtitle_result, "subtitle.taskResult"),
]
