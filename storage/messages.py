"""The original datastore's texts for "not found" and "not the owner" (spec §4.22), kept word for
word (spacing included: `user uuid :{user}` has no space after the colon). Ids are printed as the
request sent them."""

from __future__ import annotations

UPLOAD_FAILED = "An error occured during the upload of the pictures"  # sic
INFERENCE_USER_UNKNOWN = "Datastore Unhandled Error"  # /inf with an unknown user


def user_not_found(user: object) -> str:
    return f"User not found based on the given id: {user}"


def folder_not_found(folder: object) -> str:
    return f"Picture set not found based on the given id: {folder}"


def not_folder_owner(user: object, folder: object) -> str:
    return f"User isn't owner of this folder, user uuid :{user}, folder uuid : {folder}"


def cannot_delete_folder(user: object, folder: object) -> str:
    return f"User can't delete this folder, user uuid :{user}, folder name : {folder}"


def cannot_delete_default_folder(user: object) -> str:
    return f"User can't delete the default picture set, user uuid :{user}"


def example_not_found(example: object) -> str:
    return f"Example not found based on the given id: {example}"


def picture_not_found(picture: object) -> str:
    return f"Picture not found based on the given id: {picture}"


def cannot_access_picture(user: object, picture: object) -> str:
    return f"User can't access this picture, user uuid :{user}, picture : {picture}"


def inference_not_found(inference: object) -> str:
    return f"Inference not found based on the given id: {inference}"


def no_inference_for_picture(picture: object) -> str:  # ours: the original had no annotated route
    return f"Inference not found for the picture with the given id: {picture}"


def box_not_found(box: object) -> str:
    return f"Error: could not get inference object for id {box}"


def verified_inference(inference: object) -> str:
    return f"Can't add feedback to a verified inference, id: {inference}"


def already_verified(inference: object) -> str:  # /feedback-negative's wording of the same condition
    return f"Error: Inference {inference} is already verified"
