"""Reading a batch's report back in pages (shared/batchreport.py `read_page`), on Azurite.

Ranged reads much smaller than the report, so lines straddle the reads: each line must come
back whole, once, and the offsets must chain.
"""

from __future__ import annotations

import pytest
from azure.storage.blob import ContainerClient

from shared import batchreport
from shared.batchreport import NotALineStart, append_lines, read_page, report_name


def lines(count: int) -> list[dict[str, object]]:
    states = ("succeeded", "failed", "skipped")
    return [
        {"name": f"in/{i:03d}-" + "x" * (i % 17), "state": states[i % 3], "bytes": i}
        for i in range(count)
    ]


def test_pages_chain_and_hold_every_line_once_across_straddling_reads(
    dest: ContainerClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batchreport, "READ_BYTES", 100)  # lines are about 60 bytes
    written = lines(40)
    append_lines(dest, "b", 0, written[:25])
    size = append_lines(
        dest, "b", dest.get_blob_client(report_name("b")).get_blob_properties().size, written[25:]
    )
    report = dest.get_blob_client(report_name("b"))
    read, offset, pages = [], 0, 0
    while True:
        page = read_page(report, offset, 9, None)
        read += page.lines
        offset, pages = page.next_offset, pages + 1
        if page.at_end:
            break
    assert read == written and offset == size and pages == 5


def test_a_state_filter_reads_on_until_the_limit_or_the_end(dest: ContainerClient) -> None:
    written = lines(30)
    append_lines(dest, "c", 0, written)
    page = read_page(dest.get_blob_client(report_name("c")), 0, 4, "failed")
    assert page.lines == [line for line in written if line["state"] == "failed"][:4]
    assert not page.at_end
    rest = read_page(dest.get_blob_client(report_name("c")), page.next_offset, 100, "failed")
    assert page.lines + rest.lines == [line for line in written if line["state"] == "failed"]
    assert rest.at_end


def test_a_report_not_written_yet_is_an_empty_page_at_the_end(dest: ContainerClient) -> None:
    page = read_page(dest.get_blob_client(report_name("none")), 0, 10, None)
    assert page.lines == [] and page.at_end and page.next_offset == 0


@pytest.mark.parametrize("offset", [1, 5, 10_000])
def test_an_offset_inside_a_line_or_past_the_end_is_refused(
    dest: ContainerClient, offset: int
) -> None:
    append_lines(dest, "d", 0, lines(3))
    with pytest.raises(NotALineStart):
        read_page(dest.get_blob_client(report_name("d")), offset, 10, None)
