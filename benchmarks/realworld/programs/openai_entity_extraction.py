# ruff: noqa
"""Long-document entity extraction -- OpenAI cookbook, "Long Document Content Extraction".

Source: openai/openai-cookbook, examples/Entity_extraction_for_long_documents.ipynb
(https://github.com/openai/openai-cookbook/blob/2131c770ea341f2552bbad68ae741cbad864beeb/examples/Entity_extraction_for_long_documents.ipynb),
MIT License, Copyright (c) 2023 OpenAI.
Changed: the provider -- the pre-1.0 module call `openai.Completion.create(...)` and
`response['choices'][0]['text']` became `openai.completions.create(...)` and
`response.choices[0].text` (openai>=1, module-level client from OPENAI_BASE_URL); the
notebook's cells (simple, then complex extraction) are the body of `main()`; the F1
regulation PDF (read with textract) is replaced by a generated text of the same kind.

Critical path: 1 LLM round. Both extraction passes send one request per 10,000-character
chunk; no request depends on another's answer (8 requests: 2 passes x 4 chunks).
Shape: `for chunk in chunks: results.append(extract_chunk(...)); print(results[-1])` --
the loop reads the fresh result right away; a second loop over the same chunks follows.
"""
import os
import openai


def extract_chunk(document,template_prompt):
    
    prompt=template_prompt.replace('<document>',document)

    response = openai.completions.create(
    model='text-davinci-003', 
    prompt=prompt,
    temperature=0,
    max_tokens=1500,
    top_p=1,
    frequency_penalty=0,
    presence_penalty=0
    )
    return "1." + response.choices[0].text


def main():
    # Example prompt - 
    document = '<document>'
    template_prompt=f'''Extract key pieces of information from this regulation document.
If a particular piece of information is not present, output \"Not specified\".
When you extract a key piece of information, include the closest page number.
Use the following format:\n0. Author\n1. What is the amount of the power unit cost cap in USD, GBP and EUR\n2. What is the value of External Manufacturing Costs in USD\n3. What is the Capital Expenditure Limit in USD\n\nDocument: \"\"\"{document}\"\"\"\n\n0. Author: Tom Anderson (Page 1)\n1.'''
    print(template_prompt)

    chunks = []
    results = []

    # chunk up the contract into consecutive 10k character chunks
    for i in range(0, len(clean_text), 10000):
        #print(clean_text[i:i+10000])
        chunks.append(clean_text[i:i+10000])

    for chunk in chunks:
        results.append(extract_chunk(chunk,template_prompt))
        print(results[-1])

    groups = [r.split('\n') for r in results]

    # zip the groups together
    zipped = list(zip(*groups))
    zipped = [x for y in zipped for x in y if "Not specified" not in x and "__" not in x]
    simple = zipped

    # Example prompt - 
    template_prompt=f'''Extract key pieces of information from this regulation document.
If a particular piece of information is not present, output \"Not specified\".
When you extract a key piece of information, include the closest page number.
Use the following format:\n0. Author\n1. How is a minor overspend breach calculated\n2. How is a major overspend breach calculated\n3.Which years do these financial regulations apply to\n\nDocument: \"\"\"{document}\"\"\"\n\n0. Author: Tom Anderson (Page 1)\n1.'''
    print(template_prompt)

    chunks = []
    results = []

    for i in range(0, len(clean_text), 10000):
        chunks.append(clean_text[i:i+10000])

    for chunk in chunks:
        results.append(extract_chunk(chunk,template_prompt))
        
    groups = [r.split('\n') for r in results]

    # zip the groups together
    zipped = list(zip(*groups))
    zipped = [x for y in zipped for x in y if "Not specified" not in x and "__" not in x]
    return simple, zipped


# --- benchmark harness (not part of the original) -------------------------------------
from _support import number, words

# Stand-in for the regulation PDF's text: 48 pages of ~1,000 characters (5 chunks).
clean_text = " ".join(
    f"Page {page}. Article {page}.{k}: " + words(f"page {page} clause {k}", 24)
    for page in range(1, 49) for k in range(4)
)

ENTRY = "main"
ROUNDS = 1


def reply(endpoint, body):
    prompt = body["prompt"]
    questions = [line.split(". ", 1)[1] for line in prompt.split("\n")
                 if line[:2] in ("1.", "2.", "3.") and ". " in line][:3]
    first_page = prompt.split("Page ", 1)[1].split(".", 1)[0]
    answers = []
    for k, question in enumerate(questions, 1):
        found = number(prompt + str(k), 0, 3) == 0
        value = f"USD {number(prompt + 'v' + str(k), 10, 99)},000,000" if found else "Not specified"
        answers.append(f"{k}. {question}: {value} (Page {first_page})")
    return answers[0][2:] + "\n" + "\n".join(answers[1:])
