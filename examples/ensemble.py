import wavejit
from openai import OpenAI

client = OpenAI()

def ask(model: str, question: str) -> str:
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}])
    return reply.choices[0].message.content

@wavejit.jit
def ensemble(question: str, models: list[str]) -> str:
    answers = [ask(m, question) for m in models]          # these run concurrently
    return ask("judge", f"Pick the best answer to {question!r}: {answers}")  # waits for them

print(ensemble("Why is the sky blue?", ["gpt-a", "gpt-b", "gpt-c"]))
print(ensemble.explain())   # what was deferred, and why
