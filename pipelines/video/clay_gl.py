"""Two speed-ups of pyrender 0.1.45 for the clay renderer, both on pyrender's own GL objects:

- `ClayProgramCache`: pyrender compiles one generic PBR fragment shader (texture, shadow, point
  and spot light branches, three BRDF helper calls per light). On llvmpipe the shader is most of
  the frame. For what the clay renderer draws (untextured metallic-roughness material, vertex
  normals, directional lights only) this cache hands out a specialised program with the same
  lighting model (dielectric F0 0.04, Schlick Fresnel, Smith-Schlick geometry with k = (r+1)^2/8,
  GGX distribution with a = r^2, ambient times base colour, 1/2.2 gamma, the last as a
  polynomial within 0.018 of a grey level), so the pixels agree with pyrender's shader to within
  one grey level but for a few in 10^5 (tested) at about a third of the cost: the
  light loop is unrolled and works on scalars, and what depends on uniforms only (light
  directions and radiances, material terms) is worked out per vertex and handed on as flat
  varyings. Anything else falls back to pyrender's own shaders.
- `read_color_only`: pyrender resolves and reads back the depth buffer on every frame and turns it
  into metric depth; the renderer needs only the colour. This reader resolves the colour, reads
  it into a reused buffer and flips it.

Pixel-level equality with pyrender's path is what tests/pipelines/test_render.py checks.
"""
from __future__ import annotations

from typing import Any

import numpy as np

CLAY_VERTEX = """
layout(location = 0) in vec3 position;
layout(location = NORMAL_LOC) in vec3 normal;
layout(location = INST_M_LOC) in mat4 inst_m;
uniform mat4 M;
uniform mat4 V;
uniform mat4 P;
struct DirectionalLight {
    vec3 color;
    float intensity;
    vec3 direction;
};
struct Material {
    vec4 base_color_factor;
    float metallic_factor;
    float roughness_factor;
};
uniform DirectionalLight directional_lights[MAX_DIRECTIONAL_LIGHTS];
uniform int n_directional_lights;
uniform Material material;
uniform vec3 ambient_light;
out vec3 frag_position;
out vec3 frag_normal;
// what depends on uniforms only, worked out per vertex (thousands) instead of per fragment (hundreds of
// thousands): llvmpipe does not hoist uniform-only expressions out of its per-fragment code, and a flat
// input costs a fragment one load
flat out vec3 light_l[N_LIGHTS];         // unit direction towards each light
flat out vec3 light_radiance[N_LIGHTS];  // intensity x colour; zero past n_directional_lights
flat out vec3 mat_ambient;               // ambient light times the base colour
flat out vec3 mat_diffuse;               // Lambert term of the base colour
flat out vec3 mat_f0;                    // reflectance at normal incidence
flat out vec3 mat_k;                     // Smith-Schlick k, GGX a^2, base colour alpha

void main()
{
    // the same expressions as pyrender's mesh.vert, so depth (and which overlapping capsule wins) agrees
    gl_Position = P * V * M * inst_m * vec4(position, 1);
    frag_position = vec3(M * inst_m * vec4(position, 1.0));
    frag_normal = normalize(vec3(transpose(inverse(M * inst_m)) * vec4(normal, 0.0)));
    for (int i = 0; i < N_LIGHTS; i++) {
        light_l[i] = normalize(-directional_lights[i].direction);
        light_radiance[i] = (i < n_directional_lights ? directional_lights[i].intensity : 0.0)
                            * directional_lights[i].color;
    }
    vec3 base = material.base_color_factor.rgb;
    float metal = material.metallic_factor;
    float rough = material.roughness_factor;
    mat_ambient = base * ambient_light;
    mat_diffuse = mix(vec3(0.0), base * (1.0 - DIELECTRIC_F0), 1.0 - metal) / PI;
    mat_f0 = mix(vec3(DIELECTRIC_F0), base, metal);
    mat_k = vec3((rough + 1.0) * (rough + 1.0) / 8.0, rough * rough * rough * rough, material.base_color_factor.a);
}
"""

CLAY_FRAGMENT = """
in vec3 frag_position;
in vec3 frag_normal;
flat in vec3 light_l[N_LIGHTS];
flat in vec3 light_radiance[N_LIGHTS];
flat in vec3 mat_ambient;
flat in vec3 mat_diffuse;
flat in vec3 mat_f0;
flat in vec3 mat_k;
out vec4 frag_color;
uniform vec3 cam_pos;

// pow(c, 1 / 2.2) on [0, 1] (GAMMA_POLY: a polynomial in c^(1/4), two square roots and six
// multiply-adds instead of a log2 and an exp2 per channel)
vec3 gamma(vec3 c)
{
    vec3 q = sqrt(sqrt(clamp(c, 0.0, 1.0)));
    return GAMMA_HORNER;
}

void main()
{
    vec3 n = normalize(frag_normal);
    vec3 v = normalize(cam_pos - frag_position);
    float nv = clamp(abs(dot(n, v)), 0.001, 1.0);
    float k = mat_k.x;
    float a2 = mat_k.y;
    float g_view = nv / (nv * (1.0 - k) + k);
    // per light, only scalars: with F = f0 + (1 - f0) m5 (Schlick, m5 = (1 - v.h)^5) and s = G D / (4 nl nv),
    // (1 - F) diffuse + F s = (1 - f0) diffuse (1 - m5) + f0 s + (1 - f0) s m5, so three sums of
    // nl * radiance times (1 - m5), s and s m5 carry every light, and the vectors come in once
    vec3 sum_diffuse = vec3(0.0);
    vec3 sum_spec = vec3(0.0);
    vec3 sum_spec_m5 = vec3(0.0);
    // N_LIGHTS is a compile-time count (the renderer's rig), so llvmpipe unrolls the loop
    for (int i = 0; i < N_LIGHTS; i++) {
        vec3 l = light_l[i];
        vec3 h = normalize(l + v);
        float nl = clamp(dot(n, l), 0.001, 1.0);
        float nh = clamp(dot(n, h), 0.0, 1.0);
        float vh = clamp(dot(v, h), 0.0, 1.0);
        float m = 1.0 - vh;
        float m2 = m * m;
        float m5 = m2 * m2 * m;  // pow(1 - vh, 5) without pow's exp2/log2
        float d = nh * nh * (a2 - 1.0) + 1.0;
        // G = g_view nl / (nl (1 - k) + k), D = a2 / (PI d^2): one division for G D / (4 nl nv + 0.001)
        float spec = g_view * nl * a2 / ((nl * (1.0 - k) + k) * PI * d * d * (4.0 * nl * nv + 0.001));
        vec3 radiance = nl * light_radiance[i];
        sum_diffuse += (1.0 - m5) * radiance;
        sum_spec += spec * radiance;
        sum_spec_m5 += (spec * m5) * radiance;
    }
    vec3 color = mat_ambient + (1.0 - mat_f0) * mat_diffuse * sum_diffuse
                 + mat_f0 * sum_spec + (1.0 - mat_f0) * sum_spec_m5;
    frag_color = clamp(vec4(gamma(color), mat_k.z), 0.0, 1.0);
}
"""

#: coefficients (constant term first) of the polynomial in q = c^(1/4) that stands for pow(c, 1 / 2.2)
#: on [0, 1]: a minimax fit (Lawson's iteration), within 0.018 of a grey level everywhere in float32
#: (tests/pipelines/test_render.py), against llvmpipe's pow at ~1.8 ms of CPU per 1280x720 frame
GAMMA_POLY = (-7.03057819e-05, 0.0201802592, 1.42287862, -1.16476972, 1.45540784, -1.03190725, 0.298351098)


def _horner(coefficients: tuple[float, ...], x: str) -> str:
    """GLSL for the polynomial with `coefficients` (constant first) in the variable `x`, Horner's form."""
    text = repr(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        text = f"({text} * {x} + {c!r})"
    return text


_CONSTANTS = f"""
const float PI = 3.141592653589793;
const float DIELECTRIC_F0 = 0.04;
#define GAMMA_HORNER {_horner(GAMMA_POLY, "q")}
"""

#: pyrender defines under which the clay program draws what pyrender's mesh shader would, given a
#: scene whose lights are all directional (the clay renderer's are; spot and point lights are
#: ignored by the clay program); pyrender rounds MAX_*_LIGHTS up, so they say nothing of the scene
_REQUIRED = {"NORMAL_LOC", "INST_M_LOC", "USE_METALLIC_MATERIAL", "MAX_DIRECTIONAL_LIGHTS"}
_ALLOWED = _REQUIRED | {"MAX_SPOT_LIGHTS", "MAX_POINT_LIGHTS"}


def clay_applies(vertex: str, fragment: str, geometry: str | None, defines: dict[str, Any]) -> bool:
    """True when pyrender asks for its mesh program in a configuration the clay program covers
    (vertex normals, no textures, tangents, vertex colours, skinning or shadows)."""
    return (vertex, fragment, geometry) == ("mesh.vert", "mesh.frag", None) and _REQUIRED <= set(defines) <= _ALLOWED


def program_cache(lights: int):
    """A pyrender ShaderProgramCache that compiles the clay program where it applies. Only for
    scenes whose lights are all directional, at most `lights` of them (the loop over the lights is
    unrolled to that count; pyrender's MAX_DIRECTIONAL_LIGHTS is rounded up, so it cannot be used)."""
    if lights < 1:
        raise ValueError(f"the clay program needs at least one light, got {lights}")
    from pyrender.shader_program import ShaderProgram, ShaderProgramCache

    class SourceProgram(ShaderProgram):
        """A pyrender program compiled from source text (with `#define`s) instead of files."""

        def _load(self, source: str) -> str:
            defines = {**self.defines, "N_LIGHTS": lights}
            header = "#version 330 core\n" + "".join(f"#define {k} {v}\n" for k, v in sorted(defines.items()))
            return header + _CONSTANTS + source

    class ClayProgramCache(ShaderProgramCache):
        def __init__(self) -> None:
            super().__init__()
            self.clay_programs = 0

        def get_program(self, vertex_shader, fragment_shader, geometry_shader=None, defines=None):
            defines = dict(defines or {})
            if not clay_applies(vertex_shader, fragment_shader, geometry_shader, defines):
                return super().get_program(vertex_shader, fragment_shader, geometry_shader, defines)
            import OpenGL.contextdata

            key = ("clay", OpenGL.contextdata.getContext(), tuple(sorted(defines.items())))
            if key not in self._program_cache:
                self._program_cache[key] = SourceProgram(CLAY_VERTEX, CLAY_FRAGMENT, defines=defines)
                self.clay_programs += 1
            return self._program_cache[key]

    return ClayProgramCache()


def read_color_only(renderer: Any) -> Any:
    """A replacement for pyrender Renderer._read_main_framebuffer bound to `renderer`: for plain RGB
    renders it resolves the multisampled colour buffer only and returns (RGB (H, W, 3) uint8, None);
    renders that ask for depth, RGBA or segmentation go to pyrender's own reader."""
    from OpenGL import GL
    from pyrender.constants import RenderFlags

    original = renderer._read_main_framebuffer
    state: dict[str, np.ndarray] = {}

    def read(scene: Any, flags: Any) -> Any:
        if flags & (RenderFlags.DEPTH_ONLY | RenderFlags.RGBA | RenderFlags.SEG):
            return original(scene, flags)
        width, height = renderer._main_fb_dims[0], renderer._main_fb_dims[1]
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, renderer._main_fb_ms)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, renderer._main_fb)
        GL.glBlitFramebuffer(0, 0, width, height, 0, 0, width, height, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, renderer._main_fb)
        buf = state.get("buf")
        if buf is None or buf.shape != (height, width, 3):
            buf = state["buf"] = np.empty((height, width, 3), np.uint8)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)  # rows of 3 x width bytes need not be 4-aligned
        GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, buf)
        return buf[::-1].copy(), None  # GL rows run bottom-up

    return read
