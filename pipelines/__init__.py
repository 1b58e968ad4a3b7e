"""vimo.pipelines: motions and videos in (sources, body models, conversion, executors, video)."""
