"""`make demo`: the whole product on one machine, start to finish, with nothing to type.

It starts Azurite and the copy engine, the app under devhost, and a small web server standing in
for a site outside Azure; seeds a source account; runs three copies through the public HTTP API
(one across accounts, one from the web server, one aborted on purpose) with progress bars drawn
from the copies' own status documents; replicates three new blobs from the events Event Grid
would deliver; checks the bytes; prints a summary; stops everything.

    main.py       the story, step by step, and the exit code (the web server: devhost.origin)
    settings.py   the demo's sizes and rate, and the app settings pointing the app at the stack
    blobs.py      seeding sources and checking destinations (the storage SDK, test-side only)
    follow.py     starting and following copies through the `blobcopy` client, counting reads
    replication.py  writing blobs and publishing their events, as Event Grid would
    report.py     the summary table and the verdict
"""
