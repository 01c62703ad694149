# ruff: noqa
"""Zero-shot classification of table rows -- OpenAI cookbook, "Multiclass Classification for Transactions".

Source: openai/openai-cookbook, examples/Multiclass_classification_for_transactions.ipynb
(https://github.com/openai/openai-cookbook/blob/main/examples/Multiclass_classification_for_transactions.ipynb,
its "Zero-shot Classification" section), MIT License, Copyright (c) 2023 OpenAI: setup,
`zero_shot_prompt`, `format_prompt`, `classify_transaction`, the single-transaction test
and the 25-row `DataFrame.apply`, as the body of `main()`.
Changed: the dataset -- `pd.read_csv('./data/25000_spend_dataset_current.csv', ...)`
reads the same first 25 rows (as printed in the notebook) from a string; the notebook's
bare `value_counts()` / `head(25)` cell results are printed. The module-level
`openai.chat.completions.create` call is the author's.

Critical path: 1 LLM round: the test transaction and the 25 rows are classified
independently (26 requests; the first repeats row 0's request).
Shape: `test_transactions.apply(lambda x: classify_transaction(x), axis=1)` -- the loop
over rows runs inside pandas (C and library code), calling the user's lambda per row.
"""
import io
import json
import os

import numpy as np
import openai
import pandas as pd

COMPLETIONS_MODEL = "gpt-4"
client = openai.OpenAI()

zero_shot_prompt = '''You are a data expert working for the National Library of Scotland.
You are analysing all transactions over £25,000 in value and classifying them into one of five categories.
The five categories are Building Improvement, Literature & Archive, Utility Bills, Professional Services and Software/IT.
If you can't tell what it is, say Could not classify

Transaction:

Supplier: {}
Description: {}
Value: {}

The classification is:'''

def format_prompt(transaction):
    return zero_shot_prompt.format(transaction['Supplier'], transaction['Description'], transaction['Transaction value (£)'])

def classify_transaction(transaction):

    
    prompt = format_prompt(transaction)
    messages = [
        {"role": "system", "content": prompt},
    ]
    completion_response = openai.chat.completions.create(
                            messages=messages,
                            temperature=0,
                            max_tokens=5,
                            top_p=1,
                            frequency_penalty=0,
                            presence_penalty=0,
                            model=COMPLETIONS_MODEL)
    label = completion_response.choices[0].message.content.replace('\n','')
    return label


def main():
    transactions = pd.read_csv(io.StringIO(TRANSACTIONS_CSV))
    print(f"Number of transactions: {len(transactions)}")
    print(transactions.head())

    # Get a test transaction
    transaction = transactions.iloc[0]
    # Use our completion function to return a prediction
    print(f"Transaction: {transaction['Supplier']} {transaction['Description']} {transaction['Transaction value (£)']}")
    print(f"Classification: {classify_transaction(transaction)}")

    test_transactions = transactions.iloc[:25]
    test_transactions['Classification'] = test_transactions.apply(lambda x: classify_transaction(x),axis=1)

    print(test_transactions['Classification'].value_counts())
    print(test_transactions.head(25))
    return test_transactions


# --- benchmark harness (not part of the original) -------------------------------------
TRANSACTIONS_CSV = """Date,Supplier,Description,Transaction value (£)
21/04/2016,M & J Ballantyne Ltd,George IV Bridge Work,35098.0
26/04/2016,Private Sale,Literary & Archival Items,30000.0
30/04/2016,City Of Edinburgh Council,Non Domestic Rates ,40800.0
09/05/2016,Computacenter Uk,Kelvin Hall,72835.0
09/05/2016,John Graham Construction Ltd,Causewayside Refurbishment,64361.0
09/05/2016,A McGillivray,Causewayside Refurbishment,53690.0
16/05/2016,John Graham Construction Ltd,Causewayside Refurbishment,365344.0
23/05/2016,Computacenter Uk,Kelvin Hall,26506.0
23/05/2016,ECG Facilities Service,Facilities Management Charge,32777.0
23/05/2016,ECG Facilities Service,Facilities Management Charge,32777.0
30/05/2016,ALDL,ALDL Charges,32317.0
10/06/2016,Wavetek Ltd,Kelvin Hall,87589.0
10/06/2016,John Graham Construction Ltd,Causewayside Refurbishment,381803.0
28/06/2016,ECG Facilities Service,Facilities Management Charge,32832.0
30/06/2016,Glasgow City Council,Kelvin Hall,1700000.0
11/07/2016,Wavetek Ltd,Kelvin Hall,65692.0
11/07/2016,John Graham Construction Ltd,Causewayside Refurbishment,139845.0
15/07/2016,Sotheby'S,Literary & Archival Items,28500.0
18/07/2016,Christies,Literary & Archival Items,33800.0
25/07/2016,A McGillivray,Causewayside Refurbishment,30113.0
31/07/2016,ALDL,ALDL Charges,32317.0
08/08/2016,ECG Facilities Service,Facilities Management Charge,32795.0
15/08/2016,Creative Video Productions Ltd,Kelvin Hall,26866.0
15/08/2016,John Graham Construction Ltd,Causewayside Refurbishment,196807.0
24/08/2016,ECG Facilities Service,Facilities Management Charge,32795.0
"""

ENTRY = "main"
ROUNDS = 1


def reply(endpoint, body):
    prompt = body["messages"][0]["content"]
    description = prompt.split("Description: ", 1)[1].split("\n", 1)[0]
    supplier = prompt.split("Supplier: ", 1)[1].split("\n", 1)[0]
    if "Archival" in description:
        return "Literature & Archive"
    if "Rates" in description:
        return "Utility Bills"
    if "Computacenter" in supplier:
        return "Software/IT"
    if "ALDL" in description:
        return "Could not classify"
    return "Building Improvement\n"
