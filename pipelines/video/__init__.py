"""vimo.pipelines.video: the stimulus videos of clips. `render` (the actor's motion as a clay body,
headless EGL), `clips` (real camera frames cut to a clip), `restyle` (Runway video-to-video)."""
