// The Vercel AI SDK's default OpenAI model (openai("..."): the Responses API) through Trooper:
// a tool the SDK runs itself, then the answer. Usage: node vercel_ai.mjs BASE_URL whole|stream
// Prints {"text": ..., "steps": n}. The packages come from npm's global root (scripts/test).
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const globalRoot = process.env.NPM_GLOBAL_ROOT || execFileSync("npm", ["root", "-g"]).toString().trim();
const resolve = createRequire(globalRoot + "/").resolve;
const load = (name) => import(pathToFileURL(resolve(name)).href);
const { generateText, streamText, tool, stepCountIs } = await load("ai");
const { createOpenAI } = await load("@ai-sdk/openai");
const { z } = await load("zod");

const [baseURL, mode] = process.argv.slice(2);
const openai = createOpenAI({ baseURL, apiKey: "client-key" });
const tools = {
  get_weather: tool({
    description: "Weather for a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => `18°C and sunny in ${city}`,
  }),
};
const request = { model: openai("gpt-4o-mini"), prompt: "What is the weather in Paris today?", tools, stopWhen: stepCountIs(3), maxRetries: 0 };
let text, steps;
if (mode === "stream") {
  const result = streamText({ ...request, onError: ({ error }) => { throw error; } });
  text = await result.text;
  steps = (await result.steps).length;
} else {
  const result = await generateText(request);
  text = result.text;
  steps = result.steps.length;
}
console.log(JSON.stringify({ text, steps }));
