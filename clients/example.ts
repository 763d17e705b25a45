// What a shop's page writes, type-checked against cutout.d.ts (tsc --noEmit).
import { Cutout, CutoutError, download, resultFilename, type Job } from "./cutout.js";

const cutout = new Cutout({ baseUrl: "https://cutout.example", key: "pk_live_example" });

export async function removeBackground(file: File, bar: HTMLProgressElement): Promise<Job | string> {
  void cutout.warm();
  const controller = new AbortController();
  try {
    const job = await cutout.submit(
      file,
      { effects: ["color", "background"], params: { background: { mode: "color", color: "#ffeecc" } }, format: "webp" },
      { onProgress: ({ loaded, total }) => { bar.value = loaded / total; }, signal: controller.signal },
    );
    return await cutout.poll(job, {
      signal: controller.signal,
      onResult: (effect, result) => {
        const shown: string = result.display?.url ?? result.url;
        if (result.full) void download(result.full.url, resultFilename(file.name, effect, result.full.format));
        void shown;
      },
    });
  } catch (err) {
    if (err instanceof CutoutError) return `${err.code}: ${err.message} (${err.status})`;
    throw err;
  }
}
