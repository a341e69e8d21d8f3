"""What only the filesystem store can get wrong: paths that escape its root."""

import pytest

from datastore.blob.fs import FsBlobStore


@pytest.mark.parametrize("name", ["../escape", "a/../../b", "/abs", "a\\b", "", "a/./b"])
async def test_rejects_escaping_names(tmp_path, name):
    store = FsBlobStore(tmp_path)
    await store.create_container("user-x1")
    with pytest.raises(ValueError):
        await store.upload("user-x1", name, b"x")
    assert not (tmp_path.parent / "escape").exists()


@pytest.mark.parametrize("container", ["../etc", "UPPER", "a", "with_underscore"])
async def test_rejects_bad_container_names(tmp_path, container):
    with pytest.raises(ValueError):
        await FsBlobStore(tmp_path).create_container(container)
