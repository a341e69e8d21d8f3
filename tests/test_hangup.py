"""A client that hangs up on /inf (README, "Differences from the original"): before the models
answer, nothing is kept; once they answered and the rows are being written, the save ends whole
(its picture row and its blob), never a row whose blob was removed under it."""

import asyncio
import json

from storage import fsck
from storage.layout import container_name
from tests.conftest import ClientThatHangsUp, png_bytes
from tests.test_inference import inf_body, model_server, pipelines, until  # noqa: F401 (fixtures)


async def test_a_client_that_hangs_up_while_the_rows_are_written_finds_them_whole(
    client, user, pipelines, blob_store, pool, caplog
):
    body = json.dumps(inf_body(pipelines["swin"], user, image=png_bytes(400, 300, color=(228, 221, 198))))
    hangs_up = ClientThatHangsUp("/inf", body)

    async with pool.acquire() as holder:
        async with holder.transaction():
            # the save's one statement waits on this lock: the models have answered by then
            await holder.execute("LOCK TABLE inference IN EXCLUSIVE MODE")
            request = hangs_up.call(client.app)
            await until_the_save_waits(pool)
            with caplog.at_level("INFO", logger="storage.unit"):
                hangs_up.gone.set()  # the client hangs up while the rows are being written
                await until(
                    lambda: request.done() or any("went away" in r.getMessage() for r in caplog.records),
                    "the hang-up seen by the save",
                )
        await asyncio.wait_for(request, 30)
    assert hangs_up.sent == ["body"]  # it got no answer
    async with pool.acquire() as conn:
        pictures = await conn.fetch(
            """SELECT p.id FROM picture p JOIN picture_set s ON s.id = p.picture_set_id
                JOIN inference i ON i.picture_id = p.id WHERE s.owner_id = $1""",
            user,
        )
    assert len(pictures) == 1  # saved whole: the picture row, its inference and ...
    names = [b.name for b in await blob_store.list(container_name(user))]
    assert f"General/{pictures[0]['id']}" in names  # ... its blob
    assert await fsck.check(pool, blob_store, grace_s=0, only={container_name(user)}) == []


async def until_the_save_waits(pool, seconds: float = 30) -> None:
    """Until a statement of another connection waits for a lock on the inference table."""
    async with pool.acquire() as conn:
        for _ in range(int(seconds / 0.05)):
            waiting = await conn.fetchval(
                """SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                    WHERE c.relname = 'inference' AND NOT l.granted"""
            )
            if waiting:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the save never waited on the lock")
