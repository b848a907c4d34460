// A script for the CLI:
//   npx baml-quickjs run examples/match.js --baml examples/baml_src --env-file .env
// (.env holding OPENAI_API_KEY=... and DEMO_BASE_URL=https://api.openai.com/v1)
const text = 'Ada Lovelace, ada@engines.example. Wrote the first published algorithm; 10 years of mathematics.'
const [resume, match] = await Promise.all([ExtractResume(text), MatchJob('Mathematician', text)]);
({ name: resume.name, fit: match.fit })
