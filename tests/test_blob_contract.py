"""One contract, two implementations: the filesystem store and Azure Blob (against Azurite)."""

import uuid

import pytest

from datastore.blob import BlobExists, BlobNotFound
from tests.conftest import BOTH_BLOB_STORES

pytestmark = BOTH_BLOB_STORES


def container() -> str:
    return f"user-{uuid.uuid4()}"


async def test_container_lifecycle(blob_store):
    name = container()
    assert not await blob_store.container_exists(name)
    await blob_store.create_container(name)
    await blob_store.create_container(name)  # idempotent
    assert await blob_store.container_exists(name)
    await blob_store.delete_container(name)
    assert not await blob_store.container_exists(name)


async def test_upload_download_overwrite_and_delete(blob_store):
    name = container()
    await blob_store.create_container(name)
    await blob_store.upload(name, "General/a", b"one", tags={"picture_uuid": "a"})
    assert await blob_store.download(name, "General/a") == b"one"
    await blob_store.upload(name, "General/a", b"two")
    assert await blob_store.download(name, "General/a") == b"two"
    with pytest.raises(BlobExists):
        await blob_store.upload(name, "General/a", b"three", overwrite=False)
    assert await blob_store.download(name, "General/a") == b"two"
    await blob_store.delete(name, "General/a")
    with pytest.raises(BlobNotFound):
        await blob_store.download(name, "General/a")
    with pytest.raises(BlobNotFound):
        await blob_store.delete(name, "General/a")


async def test_upload_to_missing_container_is_not_found(blob_store):
    with pytest.raises(BlobNotFound):
        await blob_store.upload(container(), "x/y", b"data")


async def test_list_by_prefix_with_tags(blob_store):
    name = container()
    await blob_store.create_container(name)
    await blob_store.upload(name, "f1/f1.json", b"{}", tags={"picture_set_uuid": "s1"})
    await blob_store.upload(name, "f1/p1", b"12345", tags={"picture_uuid": "p1", "picture_set_uuid": "s1"})
    await blob_store.upload(name, "f10/p2", b"1", tags={"picture_set_uuid": "s10"})
    await blob_store.upload(name, "f2/p3", b"1", tags={"picture_set_uuid": "s2"})
    listed = await blob_store.list(name, "f1/")
    assert [b.name for b in listed] == ["f1/f1.json", "f1/p1"]
    assert listed[1].size == 5 and listed[1].tags == {"picture_uuid": "p1", "picture_set_uuid": "s1"}
    assert [b.name for b in await blob_store.list(name, "f1")] == ["f1/f1.json", "f1/p1", "f10/p2"]
    assert len(await blob_store.list(name)) == 4
    assert all(b.modified is not None and b.modified.tzinfo is not None for b in listed)


async def test_containers_by_prefix(blob_store):
    tag = uuid.uuid4().hex[:8]
    names = [f"user-{tag}-a", f"user-{tag}-b"]
    for name in names:
        await blob_store.create_container(name)
    assert [c for c in await blob_store.containers(f"user-{tag}")] == names
    for name in names:
        await blob_store.delete_container(name)


async def test_find_by_tag(blob_store):
    name = container()
    await blob_store.create_container(name)
    await blob_store.upload(name, "a/1", b"1", tags={"picture_set_uuid": "s1"})
    await blob_store.upload(name, "a/2", b"2", tags={"picture_set_uuid": "s1"})
    await blob_store.upload(name, "b/3", b"3", tags={"picture_set_uuid": "s2"})
    assert await blob_store.find_by_tag(name, "picture_set_uuid", "s1") == ["a/1", "a/2"]
    assert await blob_store.find_by_tag(name, "picture_set_uuid", "nope") == []


async def test_copy_keeps_or_replaces_tags(blob_store):
    src, dst = container(), container()
    await blob_store.create_container(src)
    await blob_store.create_container(dst)
    await blob_store.upload(src, "f/p", b"pixels", tags={"picture_set_uuid": "s1"})
    await blob_store.copy(src, "f/p", dst, "u/f/p", tags={"picture_set_uuid": "s2"})
    await blob_store.copy(src, "f/p", dst, "u/f/q")
    assert await blob_store.download(dst, "u/f/p") == b"pixels"
    assert await blob_store.find_by_tag(dst, "picture_set_uuid", "s2") == ["u/f/p"]
    assert await blob_store.find_by_tag(dst, "picture_set_uuid", "s1") == ["u/f/q"]
    assert await blob_store.download(src, "f/p") == b"pixels"


async def test_unicode_and_long_names(blob_store):
    name = container()
    await blob_store.create_container(name)
    blob = "Échantillon été " + "x" * 200 + "/p"
    await blob_store.upload(name, blob, b"u")
    assert await blob_store.download(name, blob) == b"u"
