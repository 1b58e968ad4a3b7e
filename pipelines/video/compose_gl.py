"""The last GL steps of a rendered frame: the body layer resolved from pyrender's multisampled buffer
(only inside the body's screen box), laid over a backdrop (the floor, contact shadows and horizon of
vimo.pipelines.video.scenery, or the flat background) and read back top row first.

Why it is fast: pyrender's body pass runs under a scissor box around the projected body, so the
4x-multisampled clear, shading and resolve cost only that box; the backdrop is one analytic pass at
one sample per pixel (a ray per pixel meets the floor plane: no floor geometry, an exact horizon, the
grid antialiased from its screen-space derivatives); the output is drawn upside down, so the
read-back needs no row flip.

The body layer is premultiplied: pyrender clears to transparent black, so a resolved pixel holds the
mean of its covered samples' colours and the covered fraction as alpha, and `body + (1 - alpha) *
backdrop` equals the resolve of the body drawn straight over the backdrop (up to one rounding).
"""
from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from vimo.errors import VimoError
from vimo.pipelines.video import scenery as sc

#: a shadow reaches this many standard deviations from its caster (beyond: under 0.2 grey levels)
SHADOW_REACH_SIGMA = 3.5

_FULLSCREEN_VERTEX = """
uniform mat3 cam_rot;        // camera-to-world rotation (columns: right, up, back)
uniform float tan_half_fov;
uniform vec2 size;
uniform vec2 corners[MAX_CORNERS];   // with REGION: a convex polygon (NDC) drawn as a triangle fan
out vec3 ray;                // world direction through the pixel (not unit length; exact when interpolated)
void main()
{
#if REGION
    vec2 p = corners[gl_VertexID];
#else
    // one triangle over the whole viewport; the image is drawn upside down (read back top row first)
    vec2 p = vec2((gl_VertexID & 1) * 4.0 - 1.0, (gl_VertexID >> 1) * 4.0 - 1.0);
#endif
    ray = cam_rot * vec3(p.x * tan_half_fov * size.x / size.y, -p.y * tan_half_fov, -1.0);
    gl_Position = vec4(p, 0.0, 1.0);
}
"""

#: corners of the clipped floor polygon: a square cut by one line has at most 5
MAX_CORNERS = 5


def floor_region(camera_pose: np.ndarray, yfov: float, width: int, height: int, *, margin: float = 1.0,
                 sky: bool = False) -> np.ndarray:
    """The part of the output (NDC corners (n, 2) of a convex polygon, n = 0 when none) where the
    backdrop shader can draw anything but the sky: below the horizon line, plus a margin of `margin`
    pixels beyond the pixels its antialiasing reaches. Above it the shader's output is the sky colour
    exactly, so the fast path does not shade a ray per pixel there. `sky`: the rest of the output
    instead (the two polygons share their cut edge exactly, so rasterisation gives every pixel to one).
    In _FULLSCREEN_VERTEX's coordinates the ray's height is linear, a * x + b * y + c; a pixel is floor
    (or its antialiased edge) where that is under half its screen-space width fwidth = |a| 2 / width +
    |b| 2 / height."""
    r = np.asarray(camera_pose, dtype=np.float64)[:3, :3]
    t = np.tan(yfov / 2)
    a, b, c = r[1, 0] * t * width / height, -r[1, 1] * t, -r[1, 2]
    limit = (0.5 + margin) * (abs(a) * 2 / width + abs(b) * 2 / height) + 1e-7
    side = -1.0 if sky else 1.0

    def inside(p: np.ndarray) -> float:
        return side * (limit - (a * p[0] + b * p[1] + c))  # >= 0: keep (sky: > 0)

    square = [np.array(v, dtype=np.float64) for v in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    out = []
    for k, p in enumerate(square):  # Sutherland-Hodgman against one half-plane
        q = square[(k + 1) % 4]
        fp, fq = inside(p), inside(q)
        keep_p, keep_q = (fp > 0, fq > 0) if sky else (fp >= 0, fq >= 0)
        if keep_p:
            out.append(p)
        if keep_p != keep_q:
            out.append(p + (q - p) * fp / (fp - fq))
    return np.asarray(out, dtype=np.float32).reshape(-1, 2)

#: the darkening of floor point `p` by N_CASTERS casters (scenery.shadow_darkening is its numpy twin)
_SHADOW_GLSL = """
uniform vec4 casters[N_CASTERS];
uniform float shadow_strength;
uniform float caster_fade;
float shadow_lit(vec2 p, float floor_y)
{
    float lit = 1.0;
    for (int i = 0; i < N_CASTERS; i++) {   // a constant count: the loop unrolls
        float h = max(casters[i].y - floor_y, 0.0);
        float fade = clamp(1.0 - h / caster_fade, 0.0, 1.0);
        float sigma = casters[i].w + 0.35 * h;
        vec2 d = p - casters[i].xz;
        lit *= 1.0 - shadow_strength * fade * fade * exp(-dot(d, d) / (2.0 * sigma * sigma));
    }
    return lit;
}
"""

#: the backdrop's colour along a ray, shared by BACKDROP_FRAGMENT and _YUV_FRAGMENT. SHADOWS 0: none;
#: 1: computed per pixel (the reference); 2: looked up in the shadow map
_SCENERY_GLSL = """
uniform vec3 cam_pos;
uniform float floor_y;
uniform vec3 sky;
uniform vec3 floor_color;
uniform vec3 grid_color;
uniform vec3 haze;
uniform float haze_distance;
uniform float grid_spacing;
#if SHADOWS == 1
SHADOW_GLSL
#elif SHADOWS == 2
uniform sampler2D shadow_map;
uniform vec3 shadow_area;    // x, z of the map's corner, side length (m)
#endif

// the ray parameter where `ray` meets the floor plane
float floor_t(vec3 ray)
{
    return (floor_y - cam_pos.y) / min(ray.y, -1e-5);
}

// the backdrop seen along `ray`, which meets the floor at parameter t, grid coordinates q; w: q's
// screen-space width (fwidth), wy: that of ray.y
vec3 backdrop(vec3 ray, float t, vec2 q, vec2 w, float wy)
{
    // grid lines one pixel wide, faded out where they would crowd (far away)
    vec2 g = abs(fract(q - 0.5) - 0.5) / w;
    float line = (1.0 - clamp(min(g.x, g.y), 0.0, 1.0)) * clamp(1.0 - 5.0 * max(w.x, w.y), 0.0, 1.0);
    vec3 color = mix(floor_color, grid_color, line);
#if SHADOWS == 1
    color *= shadow_lit(q * grid_spacing, floor_y);
#elif SHADOWS == 2
    color *= texture(shadow_map, (q * grid_spacing - shadow_area.xy) / shadow_area.z).r;
#endif
    color = mix(color, haze, 1.0 - exp(-t * length(ray) / haze_distance));
    // above the horizon: the sky, with the horizon line antialiased
    return mix(sky, color, clamp(0.5 - ray.y / wy, 0.0, 1.0));
}
"""

BACKDROP_FRAGMENT = _SCENERY_GLSL + """
in vec3 ray;
out vec4 frag_color;

void main()
{
    float t = floor_t(ray);
    vec2 q = (cam_pos.xz + t * ray.xz) / grid_spacing;
    frag_color = vec4(backdrop(ray, t, q, max(fwidth(q), vec2(1e-6)), max(fwidth(ray.y), 1e-7)), 1.0);
}
"""

_MAP_VERTEX = """
void main()
{
    gl_Position = vec4((gl_VertexID & 1) * 4.0 - 1.0, (gl_VertexID >> 1) * 4.0 - 1.0, 0.0, 1.0);
}
"""

#: the shadow map: how lit each floor point of a square around the casters is
_MAP_FRAGMENT = """
SHADOW_GLSL
uniform vec3 shadow_area;
uniform float floor_y;
uniform float map_size;
out vec4 frag_color;
void main()
{
    frag_color = vec4(shadow_lit(shadow_area.xy + gl_FragCoord.xy / map_size * shadow_area.z, floor_y));
}
"""
#: BT.601 limited range, the matrix ffmpeg's rgb24 -> yuv420p conversion uses (0-1 in, 0-1 out)
_YUV_GLSL = """
const vec3 Y_ROW = vec3(65.481, 128.553, 24.966) / 255.0;
const vec3 U_ROW = vec3(-37.797, -74.203, 112.0) / 255.0;
const vec3 V_ROW = vec3(112.0, -93.786, -18.214) / 255.0;
"""

#: the frame as x264 takes it, in one pass over 2x2 blocks of output pixels (half the output's size):
#: each fragment shades its block's four pixels (the backdrop of BACKDROP_FRAGMENT, or with FLOOR 0
#: the sky only, for blocks above the horizon), lays the body layer over them and writes their luma
#: (even and odd rows into two RG targets, read back interleaved) and the chroma of the block's mean
#: colour. The grid's antialiasing width is the 2x2 difference a GPU's fwidth takes over a quad.
_YUV_FRAGMENT = _YUV_GLSL + _SCENERY_GLSL + """
uniform vec3 ray_dx;         // the ray's change from one output pixel to the next to the right
uniform vec3 ray_dy;         // ... and to the next row down the image
uniform sampler2D body;      // premultiplied, bottom row first
uniform ivec4 body_box;      // output pixels x0, y0, x1, y1 (rows top first) where the body layer is
in vec3 ray;                 // at the block's centre
layout(location = 0) out vec2 y_even;
layout(location = 1) out vec2 y_odd;
layout(location = 2) out float u_out;
layout(location = 3) out float v_out;

void main()
{
    ivec2 px = 2 * ivec2(gl_FragCoord.xy);   // the block's top-left output pixel
    vec3 r0 = ray - 0.5 * (ray_dx + ray_dy);
    vec3 rays[4] = vec3[4](r0, r0 + ray_dx, r0 + ray_dy, r0 + ray_dx + ray_dy);
    vec3 c[4];
#if FLOOR
    float t[4];
    vec2 q[4];
    for (int k = 0; k < 4; k++) {
        t[k] = floor_t(rays[k]);
        q[k] = (cam_pos.xz + t[k] * rays[k].xz) / grid_spacing;
    }
    // the block's 2x2 differences, as a GPU's fwidth over a quad
    vec2 w = max(abs(q[1] - q[0]) + abs(q[2] - q[0]), vec2(1e-6));
    float wy = max(abs(ray_dx.y) + abs(ray_dy.y), 1e-7);
    for (int k = 0; k < 4; k++)
        c[k] = backdrop(rays[k], t[k], q[k], w, wy);
#else
    for (int k = 0; k < 4; k++)
        c[k] = sky;
#endif
#if BODY
    // only blocks that meet the body's box take this variant: a texel fetch costs llvmpipe about as
    // much as the rest of a sky block
    int rows = textureSize(body, 0).y;
    for (int k = 0; k < 4; k++) {
        ivec2 p = px + ivec2(k & 1, k >> 1);
        bool in_box = all(greaterThanEqual(p, body_box.xy)) && all(lessThan(p, body_box.zw));
        vec4 b = in_box ? texelFetch(body, ivec2(p.x, rows - 1 - p.y), 0) : vec4(0.0);
        c[k] = b.rgb + (1.0 - b.a) * c[k];
    }
#endif
    y_even = 16.0 / 255.0 + vec2(dot(c[0], Y_ROW), dot(c[1], Y_ROW));
    y_odd = 16.0 / 255.0 + vec2(dot(c[2], Y_ROW), dot(c[3], Y_ROW));
    vec3 mean = 0.25 * (c[0] + c[1] + c[2] + c[3]);
    u_out = 128.0 / 255.0 + dot(mean, U_ROW);
    v_out = 128.0 / 255.0 + dot(mean, V_ROW);
}
"""

#: texels per side of the shadow map (over a square a few metres wide: 2-4 cm per texel, while the
#: softest shadow edge is 7 cm wide)
MAP_SIZE = 128

_COMPOSITE_VERTEX = """
#version 330 core
uniform vec4 rect;           // x0, y0, x1, y1 in output pixels
uniform vec2 size;
void main()
{
    vec2 corner = vec2(gl_VertexID & 1, gl_VertexID >> 1);
    gl_Position = vec4(mix(rect.xy, rect.zw, corner) / size * 2.0 - 1.0, 0.0, 1.0);
}
"""

_COMPOSITE_FRAGMENT = """
#version 330 core
uniform sampler2D body;      // premultiplied, bottom row first
uniform vec2 size;
out vec4 frag_color;
void main()
{
    frag_color = texelFetch(body, ivec2(gl_FragCoord.x, size.y - gl_FragCoord.y), 0);
}
"""


def _compile(vertex: str, fragment: str, shadows: int = 0, region: bool = False, floor: bool = True,
             body: bool = True) -> int:
    from OpenGL import GL

    program = GL.glCreateProgram()
    shaders = []
    for kind, source in ((GL.GL_VERTEX_SHADER, vertex), (GL.GL_FRAGMENT_SHADER, fragment)):
        shader = GL.glCreateShader(kind)
        if not source.lstrip().startswith("#version"):
            source = (f"#version 330 core\n#define N_CASTERS {len(sc.CASTERS)}\n#define SHADOWS {shadows}\n"
                      f"#define REGION {int(region)}\n#define MAX_CORNERS {MAX_CORNERS}\n#define FLOOR {int(floor)}\n"
                      f"#define BODY {int(body)}\n"
                      + source.replace("SHADOW_GLSL", _SHADOW_GLSL))
        GL.glShaderSource(shader, source)
        GL.glCompileShader(shader)
        if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
            raise VimoError(f"the GL driver rejected a compositing shader: {GL.glGetShaderInfoLog(shader)!r}",
                            fix="report this with the output of `vimo info`")
        GL.glAttachShader(program, shader)
        shaders.append(shader)
    GL.glLinkProgram(program)
    if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
        raise VimoError(f"the GL driver could not link a compositing program: {GL.glGetProgramInfoLog(program)!r}",
                        fix="report this with the output of `vimo info`")
    for shader in shaders:
        GL.glDeleteShader(shader)
    return program


Box = tuple[int, int, int, int]


def _around(outer: Box, inner: Box) -> list[Box]:
    """`outer` less `inner` (boxes x0, y0, x1, y1; `inner` inside `outer`) as up to four boxes."""
    x0, y0, x1, y1 = inner
    ox0, oy0, ox1, oy1 = outer
    boxes = [(ox0, oy0, ox1, y0), (ox0, y1, ox1, oy1), (ox0, y0, x0, y1), (x1, y0, ox1, y1)]
    return [b for b in boxes if b[2] > b[0] and b[3] > b[1]]


def _meet(a: Box, b: Box) -> Box | None:
    """The overlap of two boxes, None when they do not overlap."""
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[2] > box[0] and box[3] > box[1] else None


def _flip(box: Box, h: int) -> Box:
    """A box of GL pixels (rows bottom first) as the same box of output pixels (rows top first): the
    output is drawn upside down so that it reads back top row first."""
    return box[0], h - box[3], box[2], h - box[1]


def _blocks(box: Box, bw: int, bh: int) -> Box | None:
    """The 2x2 blocks (of a bw x bh block grid) that meet a box of output pixels, None when none do."""
    return _meet((box[0] // 2, box[1] // 2, (box[2] + 1) // 2, (box[3] + 1) // 2), (0, 0, bw, bh))


def _floor_draws(box: Box | None, w: int, h: int, exact: bool) -> list[tuple[bool, Box | None]]:
    """(shadowed, scissor box or None) draws of the floor over a w x h target: the plain variant alone
    without a shadows' `box` (x0, y0, x1, y1); with one, the shadowed variant inside it and the plain one
    around it, in up to four boxes (`exact`, the reference: the plain one everywhere, the shadowed over it)."""
    if box is None:
        return [(False, None)]
    plain = [None] if exact else _around((0, 0, w, h), box)
    return [(False, b) for b in plain] + [(True, box)]


class Compositor:
    """GL objects of the compositing steps, made in pyrender's context on first use. `exact_shadows`
    computes the contact shadows per pixel (the reference path) instead of looking them up in a
    MAP_SIZE^2 shadow map drawn per frame (tested to agree within 2 grey levels)."""

    def __init__(self, width: int, height: int, *, exact_shadows: bool = False):
        self.width, self.height = width, height
        self.exact_shadows = exact_shadows
        self._ready = False

    def _setup(self) -> None:
        from OpenGL import GL

        w, h = self.width, self.height
        self.vao = GL.glGenVertexArrays(1)
        GL.glBindVertexArray(self.vao)
        self.body_tex, self.body_fb = self._target(GL.GL_RGBA8, w, h)
        self.map_tex, self.map_fb = self._target(GL.GL_R8, MAP_SIZE, MAP_SIZE, linear=True)
        self.out_tex, self.out_fb = self._target(GL.GL_RGBA8, w, h)
        # the yuv420p targets of the fused pass: luma of even and odd rows (two bytes per block each), U, V
        self.yuv_tex = [self._texture(fmt, w // 2, h // 2) for fmt in (GL.GL_RG8, GL.GL_RG8, GL.GL_R8, GL.GL_R8)]
        self.yuv_fb = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.yuv_fb)
        for k, tex in enumerate(self.yuv_tex):
            GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0 + k, GL.GL_TEXTURE_2D, tex, 0)
        GL.glDrawBuffers(4, [GL.GL_COLOR_ATTACHMENT0 + k for k in range(4)])
        # the reference (exact_shadows) shades every pixel; the fast path only the floor's region
        region = not self.exact_shadows
        self.plain = _compile(_FULLSCREEN_VERTEX, BACKDROP_FRAGMENT, 0, region)
        self.shadowed = _compile(_FULLSCREEN_VERTEX, BACKDROP_FRAGMENT, 1 if self.exact_shadows else 2, region)
        self.mapper = _compile(_MAP_VERTEX, _MAP_FRAGMENT, 1)
        self.composite = _compile(_COMPOSITE_VERTEX, _COMPOSITE_FRAGMENT)
        # the fused yuv pass: sky-only blocks, floor blocks, floor blocks with shadows; each with and
        # without the body layer
        shadowed = 1 if self.exact_shadows else 2
        self.yuv = {(kind, body): _compile(_FULLSCREEN_VERTEX, _YUV_FRAGMENT, shadows, True, floor=kind != "sky",
                                           body=body)
                    for kind, shadows in (("sky", 0), ("plain", 0), ("shadowed", shadowed)) for body in (False, True)}
        self._loc: dict[tuple[int, str], int] = {}
        for program in self.yuv.values():
            GL.glUseProgram(program)
            if self._location(program, "body") >= 0:
                GL.glUniform1i(self._location(program, "body"), 0)
            if self._location(program, "shadow_map") >= 0:
                GL.glUniform1i(self._location(program, "shadow_map"), 1)
        for program in (self.plain, self.shadowed, self.mapper, *self.yuv.values()):
            GL.glUseProgram(program)
            for name, value in (("size", (w, h)), ("sky", sc.SKY), ("floor_color", sc.FLOOR),
                                ("grid_color", sc.GRID), ("haze", sc.HAZE), ("haze_distance", sc.HAZE_DISTANCE_M),
                                ("grid_spacing", sc.GRID_SPACING_M), ("shadow_strength", sc.SHADOW_STRENGTH),
                                ("caster_fade", sc.CASTER_FADE_M), ("map_size", MAP_SIZE)):
                if self._location(program, name) >= 0:
                    self._uniform(program, name, value)
        GL.glUseProgram(self.composite)
        self._uniform(self.composite, "size", (w, h))
        GL.glUniform1i(self._location(self.composite, "body"), 0)
        GL.glUseProgram(0)
        GL.glBindVertexArray(0)
        self._ready = True

    @staticmethod
    def _texture(fmt: int, w: int, h: int, linear: bool = False) -> int:
        """A w x h texture of format `fmt` (GL_R8, GL_RG8 or GL_RGBA8)."""
        from OpenGL import GL

        tex = GL.glGenTextures(1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        layout = {GL.GL_R8: GL.GL_RED, GL.GL_RG8: GL.GL_RG}.get(fmt, GL.GL_RGBA)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, fmt, w, h, 0, layout, GL.GL_UNSIGNED_BYTE, None)
        for p in (GL.GL_TEXTURE_MIN_FILTER, GL.GL_TEXTURE_MAG_FILTER):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, p, GL.GL_LINEAR if linear else GL.GL_NEAREST)
        for p in (GL.GL_TEXTURE_WRAP_S, GL.GL_TEXTURE_WRAP_T):
            GL.glTexParameteri(GL.GL_TEXTURE_2D, p, GL.GL_CLAMP_TO_EDGE)
        return tex

    @classmethod
    def _target(cls, fmt: int, w: int, h: int, linear: bool = False) -> tuple[int, int]:
        """A texture of format `fmt` and a framebuffer drawing into it."""
        from OpenGL import GL

        tex = cls._texture(fmt, w, h, linear)
        fb = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fb)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
        return tex, fb

    def _location(self, program: int, name: str) -> int:
        from OpenGL import GL

        key = (program, name)
        if key not in self._loc:
            self._loc[key] = GL.glGetUniformLocation(program, name)
        return self._loc[key]

    def _uniform(self, program: int, name: str, value: Any) -> None:
        from OpenGL import GL

        loc = self._location(program, name)
        v = np.atleast_1d(np.asarray(value, dtype=np.float32))
        if v.size == 1:
            GL.glUniform1f(loc, float(v[0]))
        elif v.size == 2:
            GL.glUniform2f(loc, *map(float, v))
        elif v.size == 3:
            GL.glUniform3f(loc, *map(float, v))
        elif v.size == 9:
            GL.glUniformMatrix3fv(loc, 1, GL.GL_TRUE, v.reshape(3, 3))
        else:
            GL.glUniform4fv(loc, v.size // 4, v)

    def compose(self, ms_fb: int, box: Box | None, camera_pose: np.ndarray, yfov: float,
                floor_y: float | None, casters: np.ndarray | None,
                shadow_box: Box | None = None, yuv: bool = False) -> np.ndarray:
        """The frame (H, W, 3) uint8 RGB, or with `yuv` (H * 3 / 2, W) uint8 planar yuv420p (BT.601
        limited range; chroma from the mean of each 2x2 block), top row first: the body resolved from
        `ms_fb` inside `box` ((x0, y0, x1, y1) GL pixels, None: no body in view) over the backdrop
        (`floor_y` None: the flat background), with the contact shadows of `casters`
        ((len(scenery.CASTERS), 4)) drawn inside `shadow_box` (GL pixels; None: none in view)."""
        from OpenGL import GL

        if not self._ready:
            self._setup()
        w, h = self.width, self.height
        GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_BLEND)
        GL.glBindVertexArray(self.vao)
        if box is not None:
            x0, y0, x1, y1 = box
            GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, ms_fb)
            GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self.body_fb)
            GL.glBlitFramebuffer(x0, y0, x1, y1, x0, y0, x1, y1, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)
        shadows = casters is not None and shadow_box is not None and floor_y is not None
        if shadows and not self.exact_shadows:
            area = sc.shadow_area(floor_y, casters, SHADOW_REACH_SIGMA)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.map_fb)
            GL.glViewport(0, 0, MAP_SIZE, MAP_SIZE)
            GL.glUseProgram(self.mapper)
            self._uniform(self.mapper, "casters", casters)
            self._uniform(self.mapper, "floor_y", floor_y)
            self._uniform(self.mapper, "shadow_area", area)
            GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        if yuv:
            return self._yuv(box, camera_pose, yfov, floor_y, casters if shadows else None,
                             area if shadows and not self.exact_shadows else None, shadow_box if shadows else None)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.out_fb)
        GL.glViewport(0, 0, w, h)
        corners = None
        if floor_y is not None and not self.exact_shadows:
            corners = floor_region(camera_pose, yfov, w, h)
        if floor_y is None or corners is not None:  # the sky (the flat background), shaded nowhere
            GL.glClearColor(*sc.SKY, 1.0)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        if floor_y is not None and (corners is None or len(corners)):
            pose = np.asarray(camera_pose, dtype=np.float64)
            flipped = _flip(shadow_box, h) if shadows else None
            passes = [(self.shadowed if shaded else self.plain, scissor)
                      for shaded, scissor in _floor_draws(flipped, w, h, self.exact_shadows)]
            for program, scissor in passes:
                GL.glUseProgram(program)
                self._uniform(program, "cam_rot", pose[:3, :3])
                self._uniform(program, "cam_pos", pose[:3, 3])
                self._uniform(program, "tan_half_fov", np.tan(yfov / 2))
                self._uniform(program, "floor_y", floor_y)
                if program == self.shadowed and self.exact_shadows:
                    self._uniform(program, "casters", casters)
                elif program == self.shadowed:
                    GL.glActiveTexture(GL.GL_TEXTURE0)
                    GL.glBindTexture(GL.GL_TEXTURE_2D, self.map_tex)
                    GL.glUniform1i(self._location(program, "shadow_map"), 0)
                    self._uniform(program, "shadow_area", area)
                if scissor is not None:
                    x0, y0, x1, y1 = scissor
                    GL.glEnable(GL.GL_SCISSOR_TEST)
                    GL.glScissor(x0, y0, x1 - x0, y1 - y0)
                if corners is None:
                    GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
                else:
                    GL.glUniform2fv(self._location(program, "corners"), len(corners), corners)
                    GL.glDrawArrays(GL.GL_TRIANGLE_FAN, 0, len(corners))
                GL.glDisable(GL.GL_SCISSOR_TEST)
        if box is not None:
            GL.glEnable(GL.GL_BLEND)
            GL.glBlendFunc(GL.GL_ONE, GL.GL_ONE_MINUS_SRC_ALPHA)
            GL.glUseProgram(self.composite)
            GL.glActiveTexture(GL.GL_TEXTURE0)
            GL.glBindTexture(GL.GL_TEXTURE_2D, self.body_tex)
            GL.glUniform4f(self._location(self.composite, "rect"), *map(float, _flip(box, h)))
            GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
            GL.glDisable(GL.GL_BLEND)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)  # rows of 3 x width bytes need not be 4-aligned
        frame = np.empty((h, w, 3), np.uint8)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self.out_fb)
        GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, frame.ctypes.data_as(ctypes.c_void_p))
        GL.glBindVertexArray(0)
        return frame

    def _yuv(self, box: Box | None, camera_pose: np.ndarray, yfov: float,
             floor_y: float | None, casters: np.ndarray | None, area: np.ndarray | None,
             shadow_box: Box | None) -> np.ndarray:
        """compose(..., yuv=True) after the body's resolve and the shadow map: the fused pass over 2x2
        blocks (_YUV_FRAGMENT), sky-only blocks above the horizon (floor_region with a margin of a
        block), floor blocks below it, the shadowed variant inside the shadows' box; then the planes
        read back into one yuv420p frame."""
        from OpenGL import GL

        w, h = self.width, self.height
        bw, bh = w // 2, h // 2
        pose = np.asarray(camera_pose, dtype=np.float64)
        tan = np.tan(yfov / 2)
        # the ray through pixel centres changes by these per output pixel (NDC steps 2 / w and 2 / h;
        # the output is upside down, so a row down the image is +y in NDC and -y in camera space)
        ray_dx = pose[:3, 0] * (2 / w) * tan * w / h
        ray_dy = -pose[:3, 1] * (2 / h) * tan
        # body and shadow boxes in output pixels, rows top first (the output is upside down)
        body_box = (0, 0, 0, 0) if box is None else _flip(box, h)
        square = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1)], np.float32)
        if floor_y is None:
            draws = [("sky", square, None)]
        else:
            # a block is floor when any of its pixels can be: half a block's reach beyond the pixel margin
            floor = floor_region(pose, yfov, w, h, margin=1.5) if not self.exact_shadows else square
            sky = floor_region(pose, yfov, w, h, margin=1.5, sky=True) if not self.exact_shadows else square[:0]
            draws = [("sky", sky, None)] if len(sky) else []
            if len(floor):
                inner = None if shadow_box is None else _blocks(_flip(shadow_box, h), bw, bh)
                draws += [("shadowed" if shaded else "plain", floor, scissor)
                          for shaded, scissor in _floor_draws(inner, bw, bh, self.exact_shadows)]
        # blocks that meet the body's box take the variant that lays it over
        body = None if box is None else _blocks(body_box, bw, bh)
        split = []
        for kind, corners, scissor in draws:
            whole = scissor or (0, 0, bw, bh)
            inside = None if body is None else _meet(whole, body)
            if inside is None:
                split.append((self.yuv[kind, False], kind, corners, scissor))
            else:
                split += [(self.yuv[kind, False], kind, corners, b) for b in _around(whole, inside)]
                split.append((self.yuv[kind, True], kind, corners, inside))
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self.yuv_fb)
        GL.glViewport(0, 0, bw, bh)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.body_tex)
        if area is not None:
            GL.glActiveTexture(GL.GL_TEXTURE1)
            GL.glBindTexture(GL.GL_TEXTURE_2D, self.map_tex)
            GL.glActiveTexture(GL.GL_TEXTURE0)
        ready = set()
        for program, kind, corners, scissor in split:
            GL.glUseProgram(program)
            if program not in ready:  # a program's uniforms once per frame
                ready.add(program)
                self._uniform(program, "cam_rot", pose[:3, :3])
                self._uniform(program, "tan_half_fov", tan)
                self._uniform(program, "ray_dx", ray_dx)
                self._uniform(program, "ray_dy", ray_dy)
                if self._location(program, "body_box") >= 0:
                    GL.glUniform4i(self._location(program, "body_box"), *map(int, body_box))
                GL.glUniform2fv(self._location(program, "corners"), len(corners), corners)
                if kind != "sky":
                    self._uniform(program, "cam_pos", pose[:3, 3])
                    self._uniform(program, "floor_y", floor_y)
                if kind == "shadowed" and area is None:
                    self._uniform(program, "casters", casters)
                elif kind == "shadowed":
                    self._uniform(program, "shadow_area", area)
            if scissor is not None:
                x0, y0, x1, y1 = scissor
                GL.glEnable(GL.GL_SCISSOR_TEST)
                GL.glScissor(x0, y0, x1 - x0, y1 - y0)
            GL.glDrawArrays(GL.GL_TRIANGLE_FAN, 0, len(corners))
            GL.glDisable(GL.GL_SCISSOR_TEST)
        GL.glUseProgram(0)
        GL.glBindVertexArray(0)
        frame = np.empty((h * 3 // 2, w), np.uint8)
        base = frame.ctypes.data
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self.yuv_fb)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        # luma: block row j of the even / odd target is image row 2j / 2j + 1 (rows of w bytes, two apart)
        GL.glPixelStorei(GL.GL_PACK_ROW_LENGTH, w)
        for k in range(2):
            GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0 + k)
            GL.glReadPixels(0, 0, bw, bh, GL.GL_RG, GL.GL_UNSIGNED_BYTE, ctypes.c_void_p(base + k * w))
        GL.glPixelStorei(GL.GL_PACK_ROW_LENGTH, 0)
        for k in range(2):
            GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT2 + k)
            GL.glReadPixels(0, 0, bw, bh, GL.GL_RED, GL.GL_UNSIGNED_BYTE, ctypes.c_void_p(base + w * h + k * bw * bh))
        GL.glReadBuffer(GL.GL_COLOR_ATTACHMENT0)
        return frame

    def delete(self) -> None:
        """Free the GL objects (the context must be current)."""
        if not self._ready:
            return
        from OpenGL import GL

        for program in (self.plain, self.shadowed, self.mapper, self.composite, *self.yuv.values()):
            GL.glDeleteProgram(program)
        GL.glDeleteFramebuffers(4, [self.body_fb, self.map_fb, self.out_fb, self.yuv_fb])
        GL.glDeleteTextures([self.body_tex, self.map_tex, self.out_tex, *self.yuv_tex])
        GL.glDeleteVertexArrays(1, [self.vao])
        self._ready = False
